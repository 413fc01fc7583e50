/**
 * The configuration this stage deploys, published for the operator CLI (issue 18): one String
 * parameter, `<parameterPrefix>/_config/<stage>`, holding the validated configuration as the
 * functions see it and its content hash (functions/commons/deployed-config.ts: the format, the
 * name, and why it is compressed and in the Intelligent-Tiering tier). The CLI reads it with
 * GetParameter, so the operator's own role needs `ssm:GetParameter` on it; no function reads it.
 */
import { ParameterTier, StringParameter } from 'aws-cdk-lib/aws-ssm';
import { deployedConfigParameterName, encodeDeployedConfig } from '../functions/commons/deployed-config';
import type { PipelineContext } from './pipeline-context';

export const addDeployedConfig = (context: PipelineContext): void => {
  const { stack, app, config } = context;
  // Over 8 KB this throws ConfigError naming the fix, and synthesis stops like any config mistake.
  const { value } = encodeDeployedConfig(config);
  new StringParameter(stack, 'DeployedConfig', {
    parameterName: deployedConfigParameterName(config.settings.parameterPrefix, app.stage),
    description: `The Bakehouse configuration deployed to stage ${app.stage} (gzip+base64 JSON; bakehouse config check compares it with bakehouse.config.ts)`,
    stringValue: value,
    tier: ParameterTier.INTELLIGENT_TIERING,
  });
};

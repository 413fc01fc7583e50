/** Every service the sandbox speaks, in seeding order (EC2 seeds images before SSM points at them). */
import type { SandboxService } from '../service';
import { autoScaling } from './autoscaling';
import { ec2 } from './ec2';
import { eventBridge } from './events';
import { iam } from './iam';
import { lambda } from './lambda';
import { scheduler } from './scheduler';
import { secretsManager } from './secrets-manager';
import { slack } from './slack';
import { ssm } from './ssm';
import { stepFunctions } from './stepfunctions';
import { sts } from './sts';

export const allServices: readonly SandboxService[] = [
  ec2,
  autoScaling,
  ssm,
  secretsManager,
  sts,
  iam,
  eventBridge,
  lambda,
  scheduler,
  stepFunctions,
  slack,
];

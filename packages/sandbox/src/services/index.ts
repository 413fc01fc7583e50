/** Every service the sandbox speaks, in seeding order (EC2 seeds images before SSM points at them). */
import type { SandboxService } from '../service';
import { autoScaling } from './autoscaling';
import { autoScalingAuthz } from './autoscaling/authz';
import { cloudWatch } from './cloudwatch';
import { cloudWatchAuthz } from './cloudwatch/authz';
import { dynamodb } from './dynamodb';
import { dynamodbAuthz } from './dynamodb/authz';
import { ec2 } from './ec2';
import { ec2Authz } from './ec2/authz';
import { eventBridge } from './events';
import { eventsAuthz } from './events/authz';
import { iam } from './iam';
import { kms } from './kms';
import { kmsAuthz } from './kms/authz';
import { lambda } from './lambda';
import { lambdaAuthz } from './lambda/authz';
import { scheduler } from './scheduler';
import { schedulerAuthz } from './scheduler/authz';
import { secretsManager } from './secrets-manager';
import { secretsManagerAuthz } from './secrets-manager-authz';
import { slack } from './slack';
import { sqs } from './sqs';
import { sqsAuthz } from './sqs-authz';
import { ssm } from './ssm';
import { ssmAuthz } from './ssm/authz';
import { stepFunctions } from './stepfunctions';
import { statesAuthz } from './stepfunctions/authz';
import { sts } from './sts';

/** Each service with the authorizations its actions need (`<service>/authz.ts`). */
export const allServices: readonly SandboxService[] = [
  { ...ec2, authz: ec2Authz },
  { ...autoScaling, authz: autoScalingAuthz },
  { ...ssm, authz: ssmAuthz },
  { ...secretsManager, authz: secretsManagerAuthz },
  sts,
  iam,
  { ...eventBridge, authz: eventsAuthz },
  { ...lambda, authz: lambdaAuthz },
  { ...scheduler, authz: schedulerAuthz },
  { ...stepFunctions, authz: statesAuthz },
  { ...sqs, authz: sqsAuthz },
  { ...kms, authz: kmsAuthz },
  { ...dynamodb, authz: dynamodbAuthz },
  { ...cloudWatch, authz: cloudWatchAuthz },
  slack,
];

/**
 * Which resources SQS actions authorize (Service Authorization Reference, "Actions, resources, and
 * condition keys for Amazon SQS"): SetQueueAttributes and GetQueueAttributes on the queue.
 */
import type { AuthzMapper } from '../service';
import { queueArnOfUrl } from './sqs';

type Input = Record<string, unknown>;

const onQueue =
  (action: string): AuthzMapper<Input> =>
  (input, ctx) => {
    const url = typeof input.QueueUrl === 'string' ? input.QueueUrl : '';
    // Not a queue URL: the action answers with its error after authorization.
    return [{ action, resource: queueArnOfUrl(url, ctx.region) ?? '*' }];
  };

export const sqsAuthz: Readonly<Record<string, AuthzMapper<Input>>> = {
  SetQueueAttributes: onQueue('sqs:SetQueueAttributes'),
  GetQueueAttributes: onQueue('sqs:GetQueueAttributes'),
};

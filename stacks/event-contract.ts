/**
 * The public event contract on AWS (issue 5): the schema registry `bakehouse-<stage>` with the
 * JSON Schema file of every detail-type (schemas/events, draft-04), and one rule per subscriber
 * (`settings.subscribers`) that forwards the detail-types it asked for to its event bus in
 * another account, with a role, a retry policy and a dead-letter queue.
 */
import { Duration } from 'aws-cdk-lib';
import { type CfnRule, EventBus, Rule } from 'aws-cdk-lib/aws-events';
import { EventBus as EventBusTarget } from 'aws-cdk-lib/aws-events-targets';
import { CfnRegistry, CfnSchema } from 'aws-cdk-lib/aws-eventschemas';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { ConfigError } from '../functions/commons/errors';
import type { Settings } from '../functions/commons/families';
import {
  CONTRACT_DETAIL_TYPES,
  readEventSchema,
  registryDescriptionOf,
  registrySchemaName,
} from '../schemas/event-schemas';
import { type PipelineContext, pascal } from './pipeline-context';

/** How long EventBridge keeps trying a subscriber's bus before the event goes to its DLQ. */
export const SUBSCRIBER_RETRY = { maximumRetryAttempts: 8, maximumEventAge: Duration.hours(2) } as const;

const registryNameOf = (stage: string): string => `bakehouse-${stage}`;

export interface SubscriberRuleSpec {
  /** Construct id of the rule (`Subscriber<Name>`); its DLQ is `Subscriber<Name>Dlq`. */
  readonly id: string;
  readonly name: string;
  readonly eventBusArn: string;
  readonly account: string;
  readonly eventPattern: { readonly source: string[]; readonly detailType: string[] };
}

/**
 * The rule of each subscriber. A detail-type Bakehouse does not publish would forward nothing,
 * silently: it fails synth instead, naming the subscriber and the fix.
 */
export const subscriberRules = (settings: Pick<Settings, 'eventSource' | 'subscribers'>): SubscriberRuleSpec[] => {
  const known = new Set<string>(CONTRACT_DETAIL_TYPES);
  const problems = settings.subscribers.flatMap((subscriber, index) =>
    subscriber.detailTypes
      .filter((type) => !known.has(type))
      .map(
        (type) =>
          `settings.subscribers[${index}] ('${subscriber.name}').detailTypes: '${type}' is not a Bakehouse detail-type. Fix: use one of ${CONTRACT_DETAIL_TYPES.map((t) => `'${t}'`).join(', ')}`,
      ),
  );
  if (problems.length > 0) throw new ConfigError(problems);
  return settings.subscribers.map((subscriber) => ({
    id: `Subscriber${pascal(subscriber.name)}`,
    name: subscriber.name,
    eventBusArn: subscriber.eventBusArn,
    account: subscriber.eventBusArn.split(':')[4] as string,
    eventPattern: { source: [settings.eventSource], detailType: [...new Set(subscriber.detailTypes)] },
  }));
};

export const addEventContract = (context: PipelineContext): void => {
  const { stack, app, config, bus } = context;
  const { settings } = config;

  // --- the schema registry: one schema per detail-type, the repository's files as they are ------
  const registry = new CfnRegistry(stack, 'EventSchemaRegistry', {
    registryName: registryNameOf(app.stage),
    description: `Bakehouse events on the bus ${bus.eventBusName}: detail-types, envelopes and detail.version rules`,
  });
  for (const detailType of CONTRACT_DETAIL_TYPES) {
    new CfnSchema(stack, `EventSchema${pascal(detailType)}`, {
      registryName: registry.attrRegistryName,
      schemaName: registrySchemaName(detailType, settings.eventSource),
      type: 'JSONSchemaDraft4',
      description: registryDescriptionOf(detailType),
      content: JSON.stringify(readEventSchema(detailType)),
    });
  }

  // --- subscribers: other teams' buses get the detail-types they asked for ----------------------
  const rules = subscriberRules(settings);
  if (rules.length === 0) return;
  const role = new Role(stack, 'SubscriberDeliveryRole', {
    assumedBy: new ServicePrincipal('events.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
    }),
    description: "Bakehouse subscriber rules: put events on the subscribers' buses",
  });
  for (const spec of rules) {
    const rule = new Rule(stack, spec.id, {
      eventBus: bus,
      description: `Forwards ${spec.eventPattern.detailType.join(', ')} to subscriber ${spec.name} (${spec.account})`,
      eventPattern: spec.eventPattern,
      targets: [
        new EventBusTarget(EventBus.fromEventBusArn(stack, `${spec.id}Bus`, spec.eventBusArn), {
          role,
          deadLetterQueue: context.addDeadLetterQueue(`${spec.id}Dlq`),
        }),
      ],
    });
    // The EventBus target construct offers no retry policy; the rule's target takes one.
    (rule.node.defaultChild as CfnRule).addPropertyOverride('Targets.0.RetryPolicy', {
      MaximumRetryAttempts: SUBSCRIBER_RETRY.maximumRetryAttempts,
      MaximumEventAgeInSeconds: SUBSCRIBER_RETRY.maximumEventAge.toSeconds(),
    });
  }
};

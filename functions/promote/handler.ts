import { type ConsumedEvent, eventConsumer } from '../commons/consumer';
import { type PromoteResult, promote } from './core';
import { createPromotionDeps } from './deps';

const deps = createPromotionDeps();

/** Target of the AMI Baked, AMI Tested and Promote Requested rules on the Bakehouse bus. */
export const handler = eventConsumer<ConsumedEvent, PromoteResult>('promotion event', (event) => promote(event, deps));

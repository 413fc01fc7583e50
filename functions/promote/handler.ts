import { type ConsumedEvent, eventConsumer } from '../commons/consumer';
import { createPromotionDeps } from '../commons/promotion-deps';
import { type PromoteResult, promote } from './core';

const deps = createPromotionDeps();

/** Target of the AMI Baked, AMI Tested, Promote Requested and Canary Judged (pass) rules on the Bakehouse bus. */
export const handler = eventConsumer<ConsumedEvent, PromoteResult>('promotion event', (event) => promote(event, deps));

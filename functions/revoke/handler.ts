import { type ConsumedEvent, eventConsumer } from '../commons/consumer';
import { createPromotionDeps } from '../commons/promotion-deps';
import { type RevokeSummary, revoke } from './core';

const deps = createPromotionDeps();

/** Target of the AMI Revoked rule on the Bakehouse bus. */
export const handler = eventConsumer<ConsumedEvent, RevokeSummary>('AMI Revoked', (event) => revoke(event, deps));

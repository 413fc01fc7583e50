/**
 * Which resources and condition keys each EventBridge action authorizes (Service Authorization Reference, "Actions, resources, and condition keys for Amazon EventBridge"). Actions not listed are authorized as events:Action on *.
 */

import type { AuthzMapper } from '../../service';

export const eventsAuthz: Readonly<Record<string, AuthzMapper<Record<string, unknown>>>> = {};

/**
 * Which resources and condition keys each EventBridge Scheduler operation authorizes (Service Authorization Reference, "Actions, resources, and condition keys for Amazon EventBridge Scheduler"), keyed by route action. Operations not listed are authorized as scheduler:Operation on *.
 */
import type { AuthzMapper, HttpRequest } from '../../service';

export const schedulerAuthz: Readonly<Record<string, AuthzMapper<HttpRequest>>> = {};

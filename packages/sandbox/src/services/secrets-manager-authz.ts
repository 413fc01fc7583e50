/**
 * Which resources and condition keys each Secrets Manager action authorizes (Service Authorization Reference, "Actions, resources, and condition keys for AWS Secrets Manager"). Actions not listed are authorized as secretsmanager:Action on *.
 */

import type { AuthzMapper } from '../service';

export const secretsManagerAuthz: Readonly<Record<string, AuthzMapper<Record<string, unknown>>>> = {};

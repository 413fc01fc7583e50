/**
 * Which resources and condition keys each SSM action authorizes (Service Authorization Reference, "Actions, resources, and condition keys for AWS Systems Manager"). Actions not listed are authorized as ssm:Action on *.
 */

import type { AuthzMapper } from '../../service';

export const ssmAuthz: Readonly<Record<string, AuthzMapper<Record<string, unknown>>>> = {};

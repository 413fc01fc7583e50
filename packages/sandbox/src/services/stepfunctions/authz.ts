/**
 * Which resources and condition keys each Step Functions action authorizes (Service Authorization Reference, "Actions, resources, and condition keys for AWS Step Functions"). Actions not listed are authorized as states:Action on *.
 */

import type { AuthzMapper } from '../../service';

export const statesAuthz: Readonly<Record<string, AuthzMapper<Record<string, unknown>>>> = {};

/**
 * Which resources and condition keys each Auto Scaling action authorizes (Service Authorization Reference, "Actions, resources, and condition keys for Amazon EC2 Auto Scaling"). Actions not listed are authorized as autoscaling:Action on *.
 */
import type { QueryParams } from '../../protocol/query';
import type { AuthzMapper } from '../../service';

export const autoScalingAuthz: Readonly<Record<string, AuthzMapper<QueryParams>>> = {};

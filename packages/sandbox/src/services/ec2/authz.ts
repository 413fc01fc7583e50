/**
 * Which resources and condition keys each EC2 action authorizes (Service Authorization Reference, "Actions, resources, and condition keys for Amazon EC2"). Actions not listed are authorized as ec2:Action on *.
 */
import type { QueryParams } from '../../protocol/query';
import type { AuthzMapper } from '../../service';

export const ec2Authz: Readonly<Record<string, AuthzMapper<QueryParams>>> = {};

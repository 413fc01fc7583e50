/**
 * Which resources and condition keys each Lambda operation authorizes (Service Authorization Reference, "Actions, resources, and condition keys for AWS Lambda"), keyed by route action. Operations not listed are authorized as lambda:Operation on *.
 */
import type { AuthzMapper, HttpRequest } from '../../service';

export const lambdaAuthz: Readonly<Record<string, AuthzMapper<HttpRequest>>> = {};

/** STS: GetCallerIdentity answers with the sandbox account. */
import type { QueryService } from '../service';

export const sts: QueryService = {
  signingName: 'sts',
  protocol: 'awsquery',
  xmlns: 'https://sts.amazonaws.com/doc/2011-06-15/',
  actions: {
    GetCallerIdentity: (_params, ctx) => ({
      Arn: `arn:aws:iam::${ctx.account}:user/sandbox`,
      UserId: 'AIDASANDBOXUSER000000',
      Account: ctx.account,
    }),
  },
};

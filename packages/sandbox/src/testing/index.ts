/**
 * For tests that drive a sandbox: one started in the test process on a free port with fresh
 * state, EC2 helpers over the seeded world, and stand-in services that record what the sandbox
 * sends them.
 */
export * from './ec2';
export * from './fake-services';
export * from './fake-targets';
export * from './iam';
export * from './sandbox';

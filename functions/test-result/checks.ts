/**
 * Moved to commons/ami-tests (TestAmi shares it). Re-exported for stacks/ami-tests.ts,
 * automation/test-documents.ts and test/stacks/ami-tests.test.ts until they import it from there.
 */
export * from '../commons/ami-tests';

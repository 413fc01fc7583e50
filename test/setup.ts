import 'aws-sdk-client-mock-vitest/extend';
import { afterAll } from 'vitest';
import { undoFileStubs } from './support/file-stubs';

afterAll(undoFileStubs);

/** An error the sandbox answers with, in the service's own wire format, as AWS would. */
export class AwsError extends Error {
  readonly code: string;
  readonly status: number;
  /** Query protocols (awsquery) say whether the caller or the service is at fault. */
  readonly type: 'Sender' | 'Receiver';
  /**
   * Members a JSON error carries besides `__type` and `message` (DynamoDB's
   * ConditionalCheckFailedException returns the `Item` that failed the condition).
   */
  readonly fields: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, status = 400, fields: Readonly<Record<string, unknown>> = {}) {
    super(message);
    this.name = 'AwsError';
    this.code = code;
    this.status = status;
    this.type = status >= 500 ? 'Receiver' : 'Sender';
    this.fields = fields;
  }
}

export const missingParameter = (name: string): AwsError =>
  new AwsError('MissingParameter', `The request must contain the parameter ${name}`);

export const invalidParameterValue = (message: string): AwsError => new AwsError('InvalidParameterValue', message);

/**
 * The CloudWatch metrics a piece of code writes as embedded metric format (EMF) lines on stdout,
 * read back as CloudWatch would: namespace, metric name and the dimension set
 * ("Specification: Embedded metric format",
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html:
 * `_aws.CloudWatchMetrics[]` holds `Namespace`, `Dimensions` (arrays of dimension keys whose values
 * are root members) and `Metrics` (`Name`, `Unit`), each metric's value a root member by its name).
 */
import { vi } from 'vitest';

export interface EmittedMetric {
  readonly namespace: string;
  readonly name: string;
  readonly unit: string | undefined;
  readonly value: unknown;
  /** Dimension name → value, of one dimension set. */
  readonly dimensions: Readonly<Record<string, string>>;
}

interface EmfDirective {
  readonly Namespace: string;
  readonly Dimensions: readonly (readonly string[])[];
  readonly Metrics: readonly { readonly Name: string; readonly Unit?: string }[];
}

/** Every metric of the EMF lines in `output`; other lines are skipped. */
export const metricsOfEmf = (output: string): EmittedMetric[] =>
  output
    .split('\n')
    .filter((line) => line.trim().startsWith('{'))
    .flatMap((line) => {
      const root = JSON.parse(line) as Record<string, unknown> & {
        _aws?: { CloudWatchMetrics?: EmfDirective[] };
      };
      return (root._aws?.CloudWatchMetrics ?? []).flatMap((directive) =>
        directive.Metrics.flatMap((metric) =>
          (directive.Dimensions.length > 0 ? directive.Dimensions : [[]]).map((set) => ({
            namespace: directive.Namespace,
            name: metric.Name,
            unit: metric.Unit,
            value: root[metric.Name],
            dimensions: Object.fromEntries(set.map((key) => [key, String(root[key])])),
          })),
        ),
      );
    });

/** Runs `act` with stdout captured, and returns the metrics it wrote as EMF. */
export const captureEmf = async (act: () => unknown): Promise<EmittedMetric[]> => {
  const chunks: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  try {
    await act();
  } finally {
    write.mockRestore();
  }
  return metricsOfEmf(chunks.join(''));
};

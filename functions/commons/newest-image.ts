/**
 * The newest available image of `owners` that matches `filters`, by creation date: how a family's
 * `amiFilter` source and a bake key are resolved, by PlanBake at bake time and by
 * `bakehouse config check` beforehand (one reading, so the check finds what the bake would).
 * DescribeImages pages at most 1,000 images; 500 a page keeps each answer small (EC2 API
 * Reference, DescribeImages: MaxResults 1-1000).
 */
import { DescribeImagesCommand, type EC2Client, type Image } from '@aws-sdk/client-ec2';
import { eachPage } from './pages';

export const newestImage = async (
  ec2: Pick<EC2Client, 'send'>,
  owners: readonly string[],
  filters: Readonly<Record<string, readonly string[]>>,
): Promise<(Image & { ImageId: string }) | undefined> => {
  let newest: (Image & { ImageId: string }) | undefined;
  const pages = eachPage((NextToken) =>
    ec2.send(
      new DescribeImagesCommand({
        Owners: [...owners],
        Filters: [
          ...Object.entries(filters).map(([Name, Values]) => ({ Name, Values: [...Values] })),
          { Name: 'state', Values: ['available'] },
        ],
        MaxResults: 500,
        NextToken,
      }),
    ),
  );
  for await (const page of pages) {
    for (const image of page.Images ?? []) {
      if (!image.ImageId) continue;
      if (!newest || (image.CreationDate ?? '') > (newest.CreationDate ?? ''))
        newest = image as Image & { ImageId: string };
    }
  }
  return newest;
};

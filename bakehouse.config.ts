/**
 * Bakehouse image families. Validated at synth (`npm run synth`, `sst deploy`) and at every
 * function's cold start by `loadConfig`; a bad field fails with the family, the field and the fix.
 *
 * The subnet and security group below are placeholders: set your own before
 * deploying (the sandbox accepts any well-formed id).
 */
import { defineConfig } from './functions/commons/families';

const builder = {
  subnetId: 'subnet-0b1a2e3d4c5f60718',
  securityGroupIds: ['sg-0b1a2e3d4c5f60718'],
};

export default defineConfig({
  settings: {
    eventSource: 'bakehouse',
    parameterPrefix: '/bakehouse',
    // Accounts whose rules may put `Bake Requested` on the Bakehouse bus.
    bakeRequestAccounts: ['111122223333'],
    // Slack: the default channel; the bot token or webhook URL goes in the secret bakehouse/<stage>/slack.
    slack: { channel: '#bakehouse' },
  },
  families: [
    {
      name: 'al2023-base',
      description: 'Amazon Linux 2023, patched weekly, with the platform agents',
      os: 'linux',
      source: { ssmParameter: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64' },
      schedule: { cron: '0 3 ? * SUN *', timezone: 'Europe/Berlin' },
      builder: { ...builder, instanceType: 'm7i.large' },
      // Amazon Linux 2023 locks each image to one release: every bake upgrades to the newest
      // release ('latest', the default), or to a pinned one such as '2023.9.20261122.0'.
      patch: { excludePackages: ['kernel-livepatch*'], release: 'latest' },
      install: {
        packages: ['amazon-cloudwatch-agent', 'jq'],
        scripts: [{ name: 'enable agents', run: 'systemctl enable amazon-ssm-agent amazon-cloudwatch-agent' }],
      },
      tests: [
        { name: 'ssm agent running', run: 'systemctl is-active amazon-ssm-agent' },
        { name: 'jq present', run: 'jq --version' },
        { name: 'sshd listening', run: "ss -Hltn 'sport = :22' | grep -q LISTEN" },
      ],
      channels: [
        { name: 'dev', promoteOn: 'baked' },
        {
          name: 'stable',
          promoteOn: 'tested',
          // The web team's launch template gets a new default version with every stable image
          // (replace with your own, or drop; `npm start` and `npm run sandbox` create it in the sandbox).
          launchTemplates: [{ template: 'bakehouse-example-web' }],
        },
      ],
      retention: { keep: 5, minAgeDays: 14 },
    },
    {
      name: 'ubuntu-2404-base',
      description: 'Ubuntu 24.04 LTS from Canonical, patched weekly',
      os: 'linux',
      source: { ssmParameter: '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id' },
      schedule: { cron: '30 3 ? * SUN *', timezone: 'Europe/Berlin' },
      // Weeks with nothing new to bake say nothing in Slack.
      slack: { quiet: true },
      builder: { ...builder, instanceType: 'm7i.large' },
      patch: { excludePackages: ['linux-image-*'] },
      install: { packages: ['unattended-upgrades', 'jq'] },
      tests: [
        { name: 'ssm agent running', run: 'systemctl is-active snap.amazon-ssm-agent.amazon-ssm-agent' },
        { name: 'unattended upgrades installed', run: 'dpkg -s unattended-upgrades' },
      ],
      channels: [
        { name: 'dev', promoteOn: 'baked' },
        { name: 'stable', promoteOn: 'tested' },
      ],
    },
    {
      name: 'windows-2022-base',
      description: 'Windows Server 2022, baked the day after Patch Tuesday',
      os: 'windows',
      // The Windows team's channel; its user group is mentioned when a bake fails (use your own id).
      slack: { channel: '#windows-images', mentionOnFailure: ['<!subteam^S0123ABCD>'] },
      source: { ssmParameter: '/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-Base' },
      // Patch Tuesday is the second Tuesday; bake the next day, after the updates are out.
      schedule: { nthWeekday: { weekday: 'TUE', nth: 2, offsetDays: 1 }, at: '04:00', timezone: 'America/New_York' },
      builder: { ...builder, instanceType: 'm7i.xlarge', volumeSizeGiB: 50, timeoutMinutes: 240 },
      patch: {
        categories: ['CriticalUpdates', 'SecurityUpdates', 'UpdateRollups'],
        // Critical updates and update rollups carry no MSRC severity: they count as Unspecified.
        severityLevels: ['Critical', 'Important', 'Unspecified'],
      },
      install: {
        chocolatey: {
          source: 'https://artifacts.example.internal/api/nuget/chocolatey',
          packages: ['7zip', 'notepadplusplus'],
        },
      },
      tests: [
        { name: 'ssm agent running', run: "(Get-Service AmazonSSMAgent).Status -eq 'Running'" },
        { name: '7zip installed', run: "Test-Path 'C:\\Program Files\\7-Zip\\7z.exe'" },
      ],
      channels: [{ name: 'stable', promoteOn: 'tested' }],
      retention: { keep: 3, minAgeDays: 30 },
    },
    {
      // An application image on top of a base family: it records its parent in its tags.
      name: 'al2023-web',
      description: 'nginx on the stable Amazon Linux 2023 base',
      os: 'linux',
      source: { family: 'al2023-base', channel: 'stable' },
      builder: { ...builder, instanceType: 'm7i.large' },
      install: {
        packages: ['nginx'],
        scripts: [{ name: 'enable nginx', run: 'systemctl enable nginx' }],
      },
      tests: [
        { name: 'nginx config valid', run: 'nginx -t' },
        { name: 'nginx running', run: 'systemctl is-active nginx' },
      ],
      channels: [
        { name: 'stable', promoteOn: 'tested' },
        {
          // prod moves only after a canary: pairs of instances on prod's current image (baseline)
          // and on the tested image (canary) join the group, and their metrics are compared.
          name: 'prod',
          promoteOn: 'canary',
          canary: {
            autoScalingGroup: 'bakehouse-example-web',
            pairs: 2,
            warmupMinutes: 10,
            analysisMinutes: 30,
            intervalMinutes: 10,
            metrics: [
              {
                name: 'cpu',
                namespace: 'AWS/EC2',
                metricName: 'CPUUtilization',
                statistic: 'Average',
                badDirection: 'increase',
                weight: 1,
                allowedEffectSize: 1.3,
              },
              {
                name: 'latency',
                namespace: 'Bakehouse/ExampleApp',
                metricName: 'Latency',
                statistic: 'Average',
                badDirection: 'increase',
                critical: true,
                weight: 2,
                allowedEffectSize: 1.2,
              },
              {
                name: 'errors',
                namespace: 'Bakehouse/ExampleApp',
                metricName: 'ErrorRate',
                statistic: 'Average',
                badDirection: 'increase',
                critical: true,
                weight: 2,
                allowedEffectSize: 1.5,
              },
            ],
          },
        },
      ],
    },
  ],
});

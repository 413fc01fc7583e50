// Every npm script runs on the Node the project pins (devDependency "node": "^24"), not the machine's.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `bakehouse: npm scripts must run on Node 24 but this is Node ${process.versions.node}. ` +
      'Run `npm ci` so the pinned node devDependency is installed in node_modules/.bin.',
  );
  process.exit(1);
}
console.log(`bakehouse: running on Node ${process.versions.node}`);

// The guest launcher: a small Node process that starts the guests' bubblewrap processes for the
// sandbox (runner.ts), so the sandbox process never forks itself.
//
// Why: Node starts a child with fork() then exec(), and fork() copies the page tables of the
// whole process and makes every page copy-on-write. The sandbox process is large (its store, the
// Lambda workers' heaps; a test worker that ran a few files is over a gigabyte), so each guest
// command cost it 10-70 ms of CPU before the guest ran at all, an eighth of the sandbox thread's
// time in the end-to-end tests. This process stays around 50 MB, where a fork costs about 2 ms.
//
// Protocol (IPC, JSON): {type:'run', id, file, args, env, timeLimitMs, outputLimit} starts one;
// {type:'kill', id} kills it; the answer is {type:'done', id, exitCode, stdout, stderr, timedOut,
// realMs} or {type:'error', id, message, code} when it could not be started. When the sandbox's
// process goes (the channel closes), every guest is killed and this process ends; bubblewrap's
// --die-with-parent ties each guest to this process as well.
import { spawn } from 'node:child_process';

const running = new Map();

const run = ({ id, file, args, env, timeLimitMs, outputLimit }) => {
  const started = Date.now();
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    if (stdout.length < outputLimit) stdout += chunk.slice(0, outputLimit - stdout.length);
  });
  child.stderr.on('data', (chunk) => {
    if (stderr.length < outputLimit) stderr += chunk.slice(0, outputLimit - stderr.length);
  });
  const kill = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, timeLimitMs);
  running.set(id, kill);
  child.on('error', (error) => {
    clearTimeout(timer);
    running.delete(id);
    process.send?.({ type: 'error', id, message: error.message, code: error.code });
  });
  child.on('close', (code, signal) => {
    clearTimeout(timer);
    if (!running.delete(id)) return; // 'error' answered already
    process.send?.({
      type: 'done',
      id,
      exitCode: code ?? (signal ? 128 + 9 : 1),
      stdout,
      stderr,
      timedOut,
      realMs: Date.now() - started,
    });
  });
};

process.on('message', (message) => {
  if (message?.type === 'run') run(message);
  else if (message?.type === 'kill') running.get(message.id)?.();
});
process.on('disconnect', () => {
  for (const kill of running.values()) kill();
  process.exit(0);
});

import { fileSource, upload } from 'kvs-put';
import { startLocalKvs } from 'kvs-put/local';

// A local KVS on loopback; for AWS, leave out endpointUrl and credentials (the standard chain is used).
const kvs = await startLocalKvs();
try {
  const run = upload(fileSource(process.argv[2] ?? 'clip.mkv'), {
    stream: 'demo',
    create: true,
    retentionHours: 1,
    endpointUrl: kvs.url,
    region: kvs.region,
    credentials: kvs.credentials,
  });
  let persisted = 0;
  for await (const event of run) {
    if (event.event === 'ack' && event.EventType === 'PERSISTED') {
      persisted++;
    }
  }
  const summary = await run.done;
  console.log(`${persisted} PERSISTED acks; ${summary.persisted} of ${summary.fragments} fragments stored`);
} finally {
  await kvs.close();
}

import { setDefaultTimeout } from 'bun:test';

// Process-level tests start real programs; unit tests never wait on time at all.
setDefaultTimeout(60_000);

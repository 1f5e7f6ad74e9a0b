import { writeFileSync } from 'node:fs';
import { bigConfig } from './bigconfig.js';
writeFileSync('/tmp/vb/big.yaml', bigConfig());

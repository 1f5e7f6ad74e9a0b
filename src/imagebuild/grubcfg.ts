import { compileTemplate } from '../template.js';
import type { BootPlan } from './plan.js';
import { ESP_GRUB_DIR } from './plan.js';
import template from './templates/grub.cfg.ejs';

// GRUB reads its script much as a shell would: every value must be one plain token.
const grubCfg = compileTemplate<BootPlan & { product: string; grubDir: string }>(template, 'grub.cfg.ejs', 'config-token');

/** The ESP's grub.cfg for a boot plan. Pure. */
export function renderGrubCfg(boot: BootPlan, product: string): string {
  return grubCfg({ ...boot, product, grubDir: ESP_GRUB_DIR });
}


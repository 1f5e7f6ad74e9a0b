import ejs from 'ejs';
import type { BootPlan } from './plan.js';
import { ESP_GRUB_DIR } from './plan.js';
import template from './templates/grub.cfg.ejs';

/** The ESP's grub.cfg for a boot plan. Pure. */
export function renderGrubCfg(boot: BootPlan, product: string): string {
  return ejs.render(template, { ...boot, product, grubDir: ESP_GRUB_DIR });
}


export { listBoards, loadBoard, loadRecipe, loadOverlayAttrs, overlaysFor, BOARDS_DIR, RECIPE_FILE, OVERLAYS_DIR } from './load.js';
export {
  BoardSchema,
  BoardFileSchema,
  RecipeSchema,
  OverlayAttrsSchema,
  FORMAT_NAMES,
  FIRMWARES,
  type Board,
  type BoardFile,
  type Recipe,
  type OverlayAttrs,
} from './schema.js';
export { boardFacts } from './facts.js';

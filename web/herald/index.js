/** Herald's browser client: `<script type="module" src="/static/herald/index.js">` and `<herald-bell>`. */
import { HeraldBell } from './bell.js';

export { HeraldBell } from './bell.js';
export { HeraldClient } from './client.js';
export { groupTitle, groupMembers, plain, rich } from './format.js';
export { load as loadStrings } from './i18n.js';

if (!customElements.get('herald-bell')) customElements.define('herald-bell', HeraldBell);

/**
 * Herald's browser client. One script tag and one element:
 *
 *   <script type="module" src="/static/herald/index.js"></script>
 *   <herald-bell></herald-bell>
 *
 * Or build a UI of your own on HeraldClient.
 */
import { HeraldBell } from './bell.js';

export { HeraldBell } from './bell.js';
export { HeraldClient } from './client.js';
export { groupTitle, groupMembers } from './format.js';

if (!customElements.get('herald-bell')) customElements.define('herald-bell', HeraldBell);

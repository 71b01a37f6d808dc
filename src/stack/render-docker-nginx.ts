// `npm run nginx:docker`: renders nginx/nginx.conf.template into the file
// docker compose mounts. Run it after changing the template; a test fails
// while the two disagree.

import fs from 'node:fs';
import { DOCKER_NGINX_CONFIG_PATH, DOCKER_NGINX_VALUES, renderNginxConfig } from './nginx.js';

fs.writeFileSync(DOCKER_NGINX_CONFIG_PATH, renderNginxConfig(DOCKER_NGINX_VALUES));
console.log(`wrote ${DOCKER_NGINX_CONFIG_PATH}`);

// Helpline API docs: start Swagger UI on the console's own OpenAPI description.
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});

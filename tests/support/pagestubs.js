// A stand-in for every browser object (it answers any property, call or construction with
// itself), set on the global scope, so that the page's scripts load in node: only what each
// script does at its top level runs (pageload.js, pagerun.js).
"use strict";

const standIn = new Proxy(function standIn() {}, {
  get: (target, key) => (key === Symbol.toPrimitive ? () => ""
    : key === Symbol.iterator ? function* none() {} : standIn),
  apply: () => standIn,
  construct: () => standIn,
  has: () => true,
});
const BROWSER = ["document", "window", "navigator", "location", "localStorage", "sessionStorage", "matchMedia",
  "requestAnimationFrame", "WebSocket", "addEventListener", "Notification", "visualViewport", "getComputedStyle",
  "ResizeObserver", "IntersectionObserver", "MutationObserver", "HTMLElement", "Element", "Node", "CSS", "screen",
  "history", "innerWidth", "innerHeight", "devicePixelRatio"];
for (const name of BROWSER) {
  Object.defineProperty(globalThis, name, { value: standIn, configurable: true, writable: true });
}

// Run the page's scripts as the browser does, one classic script after another in one
// global scope, with a stand-in for every browser object (it answers any property, call
// or construction with itself): only what each script does at its top level runs (the
// page's start() is left out). A script that needs, at load, a name a later script
// defines fails here as it would in the page. Usage: node pageload.js SCRIPT...
"use strict";
const vm = require("vm");
const fs = require("fs");

const standIn = new Proxy(function standIn() {}, {
  get: (target, key) => (key === Symbol.toPrimitive ? () => "" : key === Symbol.iterator ? function* none() {} : standIn),
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
for (const path of process.argv.slice(2)) {
  const source = fs.readFileSync(path, "utf8").replace(/^start\(\);$/m, "");
  vm.runInThisContext(source, { filename: path });
  console.log(`loaded ${path}`);
}

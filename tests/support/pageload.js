// Run the page's scripts as the browser does, one classic script after another in one
// global scope, with a stand-in for every browser object (pagestubs.js): only what each
// script does at its top level runs (the page's start() is left out). A script that needs,
// at load, a name a later script defines fails here as it would in the page.
// Usage: node pageload.js SCRIPT...
"use strict";
const vm = require("vm");
const fs = require("fs");
require("./pagestubs.js");

for (const path of process.argv.slice(2)) {
  const source = fs.readFileSync(path, "utf8").replace(/^start\(\);$/m, "");
  vm.runInThisContext(source, { filename: path });
  console.log(`loaded ${path}`);
}

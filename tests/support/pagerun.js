// Run the page's scripts in node as pageload.js does (pagestubs.js for the browser, start()
// left out), with the out_of_room words of the catalogue LANG.json (webclient/i18n), then a
// script of the test's that drives the page's sans-I/O state (createChat, receiveFrame...)
// and prints what it finds. Usage: node pagerun.js LANG.json TEST_SCRIPT SCRIPT...
"use strict";
const vm = require("vm");
const fs = require("fs");
require("./pagestubs.js");

const [catalogue, test, ...scripts] = process.argv.slice(2);
for (const path of scripts) {
  vm.runInThisContext(fs.readFileSync(path, "utf8").replace(/^start\(\);$/m, ""), { filename: path });
}
vm.runInThisContext(`i18n.outOfRoom = (${fs.readFileSync(catalogue, "utf8")}).out_of_room;`);
vm.runInThisContext(fs.readFileSync(test, "utf8"), { filename: test });

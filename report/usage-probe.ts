// Preloaded into a measured process: on exit it writes its peak RSS (KiB) to file descriptor 3.
import * as fs from "fs";

process.on("exit", () => {
  try {
    fs.writeSync(3, JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }));
  } catch {
    // Without a descriptor 3 nobody is measuring.
  }
});

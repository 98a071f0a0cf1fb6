-- wrk script for scripts/bench.sh --pipeline: every write carries DEPTH (default 16) pipelined
-- GET requests for the URL's path; wrk counts each response, so Requests/sec stays comparable.
-- Usage: wrk -s pipeline.lua URL -- [DEPTH]
local depth = 16

init = function(args)
   depth = tonumber(args[1]) or depth
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format(nil)
   end
   req = table.concat(r)
end

request = function()
   return req
end

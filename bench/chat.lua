-- wrk script for bench/chat.sh: a chat turn that starts a conversation, each
-- request as the next of the users whose tokens are in $TOKENS_FILE.
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[i],
  }, '{"message": "What is on my list today?"}')
end
dofile("bench/fixed.lua")

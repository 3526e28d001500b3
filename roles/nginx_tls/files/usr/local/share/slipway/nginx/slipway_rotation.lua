-- Slipway's rotation of app hosts, changed without reloading Nginx.
--
-- A reload makes the old workers close every idle keep-alive connection, and a
-- client that sends its next request on one at that moment sees "server
-- disconnected". So the drained hosts and the reduced weights are not in the
-- configuration: they live in the shared dict `slipway_rotation`, loaded from
-- the role's state files (drained.json, weights.json) when Nginx starts or
-- reloads, and again whenever the control location is POSTed to (the
-- slipway.ops.nginx_rotation module does that after writing the files).
--
-- Per request, balance() picks a backend by smooth weighted round robin among
-- the hosts in rotation, as Nginx's own upstream does, with its passive health
-- check (max_fails within fail_timeout takes a host out for fail_timeout,
-- never the only one left). It counts the requests in flight per host, so a
-- drain waits for exactly the requests the drained host holds.
local balancer = require("ngx.balancer")

local M = {}
local FULL_WEIGHT = 100

local conf         -- set by init() in the master, inherited by the workers
local cached_text  -- this worker's copy of the state and its parsed form
local cached = { serving = {} }
local current = {} -- smooth weighted round robin: each host's current weight

local function dict()
    return ngx.shared.slipway_rotation
end

local function read_file(path)
    local handle = io.open(path, "r")
    if not handle then
        return nil
    end
    local text = handle:read("*a")
    handle:close()
    return text
end

-- The state files as the module writes them: a JSON list of names, and a JSON
-- object of name to whole percentage. Inventory names hold no quotes.
local function state_text()
    local drained, weights = {}, {}
    for name in (read_file(conf.drained_file) or ""):gmatch('"([^"]+)"') do
        drained[name] = true
    end
    for name, weight in (read_file(conf.weights_file) or ""):gmatch('"([^"]+)"%s*:%s*(%d+)') do
        weights[name] = tonumber(weight)
    end
    local parts = {}
    for _, backend in ipairs(conf.backends) do
        local weight = weights[backend.name] or FULL_WEIGHT
        parts[#parts + 1] = backend.name .. "=" .. (drained[backend.name] and "drained" or tostring(weight))
    end
    return table.concat(parts, ";")
end

-- Load the state files into the shared dict (start, reload, POST).
local function load()
    local ok, err = dict():set("state", state_text())
    if not ok then
        return nil, err
    end
    dict():incr("generation", 1, 0)
    return true
end

-- This worker's view of the state, parsed again only when it changed.
local function state()
    local text = dict():get("state") or ""
    if text ~= cached_text then
        local by_name = {}
        for name, value in text:gmatch("([^=;]+)=([^;]+)") do
            by_name[name] = value
        end
        local serving = {}
        for _, backend in ipairs(conf.backends) do
            local value = by_name[backend.name]
            if value ~= "drained" then
                serving[#serving + 1] = {
                    name = backend.name,
                    host = backend.host,
                    port = backend.port,
                    weight = tonumber(value) or FULL_WEIGHT,
                }
            end
        end
        cached = { serving = serving, by_name = by_name }
        cached_text = text
        current = {}
    end
    return cached
end

local function in_flight_key(name)
    return "in_flight:" .. ngx.worker.pid() .. ":" .. name
end

local function count_failure(name, serving)
    if conf.max_fails <= 0 or #serving <= 1 then
        return
    end
    local fails = dict():incr("fails:" .. name, 1, 0, conf.fail_timeout)
    if fails and fails >= conf.max_fails then
        dict():set("down:" .. name, true, conf.fail_timeout)
        dict():delete("fails:" .. name)
    end
end

local function leave(name)
    dict():incr(in_flight_key(name), -1, 0)
end

function M.init(settings)
    conf = settings
    local ok, err = load()
    if not ok then
        error("slipway_rotation: could not load the rotation state: " .. tostring(err))
    end
end

function M.balance()
    local ctx = ngx.ctx
    local serving = state().serving
    if ctx.slipway_tried then
        -- A retry (proxy_next_upstream): the last attempt failed.
        count_failure(ctx.slipway_peer, serving)
        leave(ctx.slipway_peer)
        ctx.slipway_peer = nil
    else
        ctx.slipway_tried = {}
    end
    local candidates, untried = {}, {}
    for _, backend in ipairs(serving) do
        if not ctx.slipway_tried[backend.name] then
            untried[#untried + 1] = backend
            if #serving == 1 or not dict():get("down:" .. backend.name) then
                candidates[#candidates + 1] = backend
            end
        end
    end
    -- Every host failed lately: try them anyway rather than answer 502 at once.
    if #candidates == 0 then
        candidates = untried
    end
    if #candidates == 0 then
        -- Every host drained (a forced drain): the placeholder refuses the
        -- connection and the client gets 502, as from an upstream all down.
        ngx.log(ngx.ERR, "slipway_rotation: no app host in rotation")
        balancer.set_current_peer("127.0.0.1", 1)
        return
    end
    local total, best = 0, nil
    for _, backend in ipairs(candidates) do
        local weight = current[backend.name] or 0
        weight = weight + backend.weight
        current[backend.name] = weight
        total = total + backend.weight
        if not best or weight > current[best.name] then
            best = backend
        end
    end
    current[best.name] = current[best.name] - total
    if next(ctx.slipway_tried) == nil and #serving > 1 then
        balancer.set_more_tries(#serving - 1)
    end
    local ok, err = balancer.set_current_peer(best.host, best.port)
    if not ok then
        ngx.log(ngx.ERR, "slipway_rotation: could not set ", best.name, ": ", err)
        return ngx.exit(500)
    end
    ctx.slipway_tried[best.name] = true
    ctx.slipway_peer = best.name
    dict():incr(in_flight_key(best.name), 1, 0)
end

-- The log phase: the last attempt's request has finished.
function M.log()
    local ctx = ngx.ctx
    local name = ctx.slipway_peer
    if not name then
        return
    end
    -- No response header from the host (refused, reset, timed out): a failure.
    local status = (ngx.var.upstream_status or ""):match("(%d+)%s*$")
    local header = (ngx.var.upstream_header_time or ""):match("([^%s,]+)%s*$")
    if (status == "502" or status == "504") and header == "-" then
        count_failure(name, state().serving)
    end
    leave(name)
end

local function alive(pid)
    local handle = io.open("/proc/" .. pid .. "/stat", "r")
    if not handle then
        return false
    end
    local stat = handle:read("*l") or ""
    handle:close()
    return not stat:match("^%d+ %b() Z")
end

-- Requests in flight per host, over the live workers (the ones a reload left
-- finishing count too); the counters of exited workers are dropped.
local function in_flight()
    local counts, checked = {}, {}
    for _, key in ipairs(dict():get_keys(0)) do
        local pid, name = key:match("^in_flight:(%d+):(.+)$")
        if pid then
            if checked[pid] == nil then
                checked[pid] = alive(pid)
            end
            if checked[pid] then
                counts[name] = (counts[name] or 0) + (dict():get(key) or 0)
            else
                dict():delete(key)
            end
        end
    end
    return counts
end

-- The control location: GET reports, POST loads the state files first.
-- Answers one JSON object: the generation and, per host, its state.
function M.control()
    if ngx.req.get_method() == "POST" then
        local ok, err = load()
        if not ok then
            ngx.status = 500
            ngx.say('{"error": "', tostring(err), '"}')
            return
        end
    end
    local view = state()
    local counts = in_flight()
    local rows = {}
    for _, backend in ipairs(conf.backends) do
        local value = view.by_name[backend.name] or tostring(FULL_WEIGHT)
        local drained = value == "drained"
        rows[#rows + 1] = string.format(
            '{"name": "%s", "address": "%s:%d", "drained": %s, "weight": %d, "down": %s, "in_flight": %d}',
            backend.name, backend.host, backend.port, tostring(drained),
            drained and 0 or (tonumber(value) or FULL_WEIGHT),
            tostring(dict():get("down:" .. backend.name) == true),
            math.max(counts[backend.name] or 0, 0))
    end
    ngx.header["Content-Type"] = "application/json"
    ngx.say('{"generation": ', dict():get("generation") or 0, ', "backends": [', table.concat(rows, ", "), "]}")
end

return M

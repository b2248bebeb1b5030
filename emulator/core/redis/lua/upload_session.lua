-- An upload session, expired ones dropped first. ARGV: ns, now, sid.
-- Returns {session...} or nil.
upkeep(ARGV[1], ARGV[2])
return session_reply(ARGV[1], ARGV[3])

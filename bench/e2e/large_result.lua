-- sysbench script for bench/e2e/run.py's large-result case (issue 19): each event is one
-- SELECT of 100 000 rows of 200 bytes (~20 MB), read to the end by the client. The rows come
-- from MariaDB's Sequence engine, so no table has to be filled first.
function thread_init()
  drv = sysbench.sql.driver()
  con = drv:connect()
end

function thread_done()
  con:disconnect()
end

function event()
  con:query("SELECT REPEAT('r', 200) FROM seq_1_to_100000")
end

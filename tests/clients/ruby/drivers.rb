# Ruby mysql2 (Debian's ruby-mysql2) through the driver cases of
# tests/integration/test_drivers.py; the contract is in tests/clients/README.md.
#
#   ruby drivers.rb HOST PORT USER PASSWORD DATABASE TAG RESET_PORT   -> one JSON object
#
# No bulk case: mysql2 has no array binding.
require 'digest'
require 'json'
require 'mysql2'
require 'securerandom'

BLOB_BYTES = 4 * 1024 * 1024
SESSION_VALUE = 12_345
HOST, PORT, USER, PASSWORD, DATABASE, TAG, RESET_PORT = ARGV

def connect(flags = 0, port = PORT)
  Mysql2::Client.new(host: HOST, port: Integer(port), username: USER, password: PASSWORD, database: DATABASE,
                     connect_timeout: 10, flags: flags)
end

def one(client, sql)
  row = client.query(sql, as: :array).first
  row && row[0]
end

def status(client, name)
  Integer(client.query("SHOW SESSION STATUS LIKE '#{name}'", as: :array).first[1])
end

def with_client(flags = 0, port = PORT)
  client = connect(flags, port)
  yield client
ensure
  client&.close
end

def login
  with_client { |c| { value: one(c, "SELECT 'Success!'") } }
end

def queries
  table = "drv_#{TAG}_q"
  with_client do |c|
    c.query("DROP TABLE IF EXISTS #{table}")
    c.query("CREATE TABLE #{table} (id INT PRIMARY KEY, name VARCHAR(20))")
    c.query("INSERT INTO #{table} VALUES (1, 'one'), (2, 'two'), (3, 'three')")
    affected = c.affected_rows
    { affected: affected, rows: c.query("SELECT id, name FROM #{table} ORDER BY id", as: :array).to_a }
  end
end

def prepared
  with_client do |c|
    before = status(c, 'Com_stmt_prepare')
    stmt = c.prepare('SELECT ? + ?, ?')
    results = [[2, 3, 'abc'], [5, 6, 'xyz']].map do |a, b, text|
      row = stmt.execute(a, b, text, as: :array).first
      [Integer(row[0]), row[1]]
    end
    stmt.close
    { results: results, server_prepares: status(c, 'Com_stmt_prepare') - before }
  end
end

def blob
  table = "drv_#{TAG}_blob"
  data = SecureRandom.random_bytes(BLOB_BYTES)
  with_client do |c|
    c.query("DROP TABLE IF EXISTS #{table}")
    c.query("CREATE TABLE #{table} (id INT PRIMARY KEY, b LONGBLOB)")
    c.prepare("INSERT INTO #{table} VALUES (1, ?)").execute(data)
    back = one(c, "SELECT b FROM #{table} WHERE id = 1")
    { sent_sha256: Digest::SHA256.hexdigest(data), received_sha256: Digest::SHA256.hexdigest(back),
      received_len: back.bytesize }
  end
end

# No pool in mysql2: the second use is a new connection (through camproxy, a pooled one).
def reset
  result = {}
  with_client(0, RESET_PORT) do |first|
    result[:first_id] = one(first, 'SELECT CONNECTION_ID()')
    first.query("SET @drv_user_var = 'leaked'")
    first.query('CREATE TEMPORARY TABLE drv_tmp (id INT)')
    first.query("SET SESSION group_concat_max_len = #{SESSION_VALUE}")
    result[:set_seen] = one(first, 'SELECT @@SESSION.group_concat_max_len')
  end
  with_client(0, RESET_PORT) do |second|
    result[:second_id] = one(second, 'SELECT CONNECTION_ID()')
    result[:user_var] = one(second, 'SELECT @drv_user_var')
    result[:temp_table] = begin
      one(second, 'SELECT COUNT(*) FROM drv_tmp')
      true
    rescue Mysql2::Error
      false
    end
    result[:session_var] = one(second, 'SELECT @@SESSION.group_concat_max_len')
    result[:global_default] = one(second, 'SELECT @@GLOBAL.group_concat_max_len')
  end
  result
end

def describe(error)
  error.respond_to?(:error_number) ? "#{error.error_number}: #{error.message}" : error.inspect
end

def kill
  bystander, victim, killer = connect, connect, connect
  victim_id = one(victim, 'SELECT CONNECTION_ID()')
  result = { kill_error: nil, victim_error: nil }
  begin
    killer.query("KILL #{Integer(victim_id)}")
  rescue Mysql2::Error => e
    result[:kill_error] = describe(e)
  end
  begin
    one(victim, 'SELECT 1')
  rescue Mysql2::Error => e
    result[:victim_error] = describe(e)
  end
  result[:bystander] = one(bystander, "SELECT 'alive'")
  result[:killer] = one(killer, "SELECT 'alive'")
  [bystander, victim, killer].each(&:close)
  result
end

def ignore_space
  with_client(Mysql2::Client::IGNORE_SPACE) do |c|
    { sql_mode: one(c, 'SELECT @@SESSION.sql_mode'),
      count: one(c, 'SELECT COUNT (*) FROM (SELECT 1 UNION SELECT 2) AS t') }
  end
end

results = {}
%i[login queries prepared blob reset kill ignore_space].each do |name|
  results[name] = { ok: true }.merge(send(name))
rescue StandardError => e
  results[name] = { ok: false, error: describe(e) }
end
puts JSON.generate(results)

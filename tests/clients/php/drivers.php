<?php
// PHP mysqli (Debian's php-mysql, mysqlnd) through the driver cases of
// tests/integration/test_drivers.py; the contract is in tests/clients/README.md.
//
//   php drivers.php HOST PORT USER PASSWORD DATABASE TAG RESET_PORT   -> one JSON object
//
// No bulk case: mysqli has no array binding.

const BLOB_BYTES = 4 * 1024 * 1024;
const LONG_DATA_CHUNK = 1024 * 1024;
const SESSION_VALUE = 12345;
[, $host, $port, $user, $password, $database, $tag, $reset_port] = $argv;
$port = (int) $port;
$reset_port = (int) $reset_port;
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);

function connect(string $host_prefix = '', int $flags = 0, ?int $to_port = null): mysqli {
    global $host, $port, $user, $password, $database;
    $conn = mysqli_init();
    $conn->options(MYSQLI_OPT_CONNECT_TIMEOUT, 10);
    $conn->real_connect($host_prefix . $host, $user, $password, $database, $to_port ?? $port, null, $flags);
    return $conn;
}

function one(mysqli $conn, string $sql) {
    $row = $conn->query($sql)->fetch_row();
    return $row === null ? null : $row[0];
}

function status(mysqli $conn, string $name): int {
    return (int) $conn->query("SHOW SESSION STATUS LIKE '$name'")->fetch_row()[1];
}

function login(): array {
    $conn = connect();
    $value = one($conn, "SELECT 'Success!'");
    $conn->close();
    return ['value' => $value];
}

function queries(): array {
    global $tag;
    $table = "drv_{$tag}_q";
    $conn = connect();
    $conn->query("DROP TABLE IF EXISTS $table");
    $conn->query("CREATE TABLE $table (id INT PRIMARY KEY, name VARCHAR(20))");
    $conn->query("INSERT INTO $table VALUES (1, 'one'), (2, 'two'), (3, 'three')");
    $affected = $conn->affected_rows;
    $rows = array_map(fn ($r) => [(int) $r[0], $r[1]],
                      $conn->query("SELECT id, name FROM $table ORDER BY id")->fetch_all(MYSQLI_NUM));
    $conn->close();
    return ['affected' => $affected, 'rows' => $rows];
}

function prepared(): array {
    $conn = connect();
    $before = status($conn, 'Com_stmt_prepare');
    $stmt = $conn->prepare('SELECT ? + ?, ?');
    $results = [];
    foreach ([[2, 3, 'abc'], [5, 6, 'xyz']] as [$a, $b, $text]) {
        $stmt->bind_param('iis', $a, $b, $text);
        $stmt->execute();
        $row = $stmt->get_result()->fetch_row();
        $results[] = [(int) $row[0], $row[1]];
    }
    $stmt->close();
    $prepares = status($conn, 'Com_stmt_prepare') - $before;
    $conn->close();
    return ['results' => $results, 'server_prepares' => $prepares];
}

// The blob goes up in COM_STMT_SEND_LONG_DATA chunks.
function blob(): array {
    global $tag;
    $table = "drv_{$tag}_blob";
    $data = random_bytes(BLOB_BYTES);
    $conn = connect();
    $conn->query("DROP TABLE IF EXISTS $table");
    $conn->query("CREATE TABLE $table (id INT PRIMARY KEY, b LONGBLOB)");
    $stmt = $conn->prepare("INSERT INTO $table VALUES (1, ?)");
    $null = null;
    $stmt->bind_param('b', $null);
    foreach (str_split($data, LONG_DATA_CHUNK) as $chunk) {
        $stmt->send_long_data(0, $chunk);
    }
    $stmt->execute();
    $stmt->close();
    $back = one($conn, "SELECT b FROM $table WHERE id = 1");
    $conn->close();
    return ['sent_sha256' => hash('sha256', $data), 'received_sha256' => hash('sha256', $back),
            'received_len' => strlen($back)];
}

// A persistent connection ("p:" host): the second use is the first one, which mysqli resets
// (COM_CHANGE_USER) before handing it out again.
function reset_reuse(): array {
    global $reset_port;
    $first = connect('p:', 0, $reset_port);
    $result = ['first_id' => (int) one($first, 'SELECT CONNECTION_ID()')];
    $first->query("SET @drv_user_var = 'leaked'");
    $first->query('CREATE TEMPORARY TABLE drv_tmp (id INT)');
    $first->query('SET SESSION group_concat_max_len = ' . SESSION_VALUE);
    $result['set_seen'] = (int) one($first, 'SELECT @@SESSION.group_concat_max_len');
    $first->close();
    $second = connect('p:', 0, $reset_port);
    $result['second_id'] = (int) one($second, 'SELECT CONNECTION_ID()');
    $result['user_var'] = one($second, 'SELECT @drv_user_var');
    try {
        one($second, 'SELECT COUNT(*) FROM drv_tmp');
        $result['temp_table'] = true;
    } catch (mysqli_sql_exception $e) {
        $result['temp_table'] = false;
    }
    $result['session_var'] = (int) one($second, 'SELECT @@SESSION.group_concat_max_len');
    $result['global_default'] = (int) one($second, 'SELECT @@GLOBAL.group_concat_max_len');
    $second->close();
    return $result;
}

function describe(Throwable $e): string {
    return $e->getCode() . ': ' . $e->getMessage();
}

function kill_case(): array {
    [$bystander, $victim, $killer] = [connect(), connect(), connect()];
    $victim_id = (int) one($victim, 'SELECT CONNECTION_ID()');
    $result = ['kill_error' => null, 'victim_error' => null];
    try {
        $killer->query("KILL $victim_id");
    } catch (mysqli_sql_exception $e) {
        $result['kill_error'] = describe($e);
    }
    try {
        one($victim, 'SELECT 1');
    } catch (mysqli_sql_exception $e) {
        $result['victim_error'] = describe($e);
    }
    $result['bystander'] = one($bystander, "SELECT 'alive'");
    $result['killer'] = one($killer, "SELECT 'alive'");
    return $result;
}

function ignore_space(): array {
    $conn = connect('', MYSQLI_CLIENT_IGNORE_SPACE);
    return ['sql_mode' => one($conn, 'SELECT @@SESSION.sql_mode'),
            'count' => (int) one($conn, 'SELECT COUNT (*) FROM (SELECT 1 UNION SELECT 2) AS t')];
}

$results = [];
$cases = ['login' => 'login', 'queries' => 'queries', 'prepared' => 'prepared', 'blob' => 'blob',
          'reset' => 'reset_reuse', 'kill' => 'kill_case', 'ignore_space' => 'ignore_space'];
foreach ($cases as $name => $function) {
    try {
        $results[$name] = ['ok' => true] + $function();
    } catch (Throwable $e) {
        $results[$name] = ['ok' => false, 'error' => describe($e)];
    }
}
echo json_encode($results), "\n";

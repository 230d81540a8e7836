<?php
// PHP PDO with server-side prepared statements (ATTR_EMULATE_PREPARES off, mysqlnd) for
// tests/integration/test_pool_mode_transaction_stmts.py: three connections in one process, each
// with its own statements, executed in turn so that each may run on a connection another client
// used last. Prints one JSON object: per client the rows it got, and its CONNECTION_ID()s.
//
//   php interleave.php HOST PORT USER PASSWORD DATABASE ROUNDS

[, $host, $port, $user, $password, $database, $rounds] = $argv;
$clients = [];
foreach (['a' => 100, 'b' => 200, 'c' => 300] as $name => $base) {
    $pdo = new PDO("mysql:host=$host;port=$port;dbname=$database", $user, $password,
                   [PDO::ATTR_EMULATE_PREPARES => false, PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    $clients[$name] = ['pdo' => $pdo,
                       'sum' => $pdo->prepare("SELECT CAST(? AS SIGNED) + $base, ?"),
                       'id' => $pdo->prepare('SELECT CONNECTION_ID()')];
}
$out = [];
for ($round = 0; $round < (int) $rounds; ++$round) {
    foreach ($clients as $name => $c) {
        $c['sum']->execute([$round, $name]);
        $out[$name]['rows'][] = array_map('strval', $c['sum']->fetch(PDO::FETCH_NUM));
        $c['sum']->closeCursor();
        $c['id']->execute();
        $out[$name]['ids'][] = (int) $c['id']->fetchColumn();
        $c['id']->closeCursor();
    }
}
// A statement closed and a new one prepared in its place keeps working.
foreach ($clients as $name => $c) {
    $c['sum'] = null;
    $again = $c['pdo']->prepare("SELECT CONCAT(?, '-again')");
    $again->execute([$name]);
    $out[$name]['again'] = $again->fetchColumn();
}
echo json_encode($out), "\n";

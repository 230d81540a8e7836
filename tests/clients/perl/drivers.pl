#!/usr/bin/perl
# DBD::MariaDB (Debian's libdbd-mariadb-perl) through the driver cases of
# tests/integration/test_drivers.py; the contract is in tests/clients/README.md.
#
#   perl drivers.pl HOST PORT USER PASSWORD DATABASE TAG RESET_PORT   -> one JSON object
#
# No ignore_space or bulk case: DBD::MariaDB 1.22 has no attribute for CLIENT_IGNORE_SPACE, and
# its execute_array is DBI's loop of one execute per row, not array binding.
use strict;
use warnings;
use DBI;
use Digest::SHA qw(sha256_hex);
use JSON::PP;

my $kBlobBytes = 4 * 1024 * 1024;
my $kSessionValue = 12345;
my ($host, $port, $user, $password, $database, $tag, $reset_port) = @ARGV;

sub connect_db {
    my (%attrs) = @_;
    my $to_port = delete $attrs{port} // $port;
    return DBI->connect("DBI:MariaDB:database=$database;host=$host;port=$to_port", $user, $password,
                        {RaiseError => 1, PrintError => 0, AutoCommit => 1, mariadb_connect_timeout => 10,
                         %attrs});
}

sub one {
    my ($dbh, $sql) = @_;
    my ($value) = $dbh->selectrow_array($sql);
    return $value;
}

sub status {
    my ($dbh, $name) = @_;
    my (undef, $value) = $dbh->selectrow_array("SHOW SESSION STATUS LIKE '$name'");
    return $value + 0;
}

sub login {
    my $dbh = connect_db();
    my $value = one($dbh, "SELECT 'Success!'");
    $dbh->disconnect;
    return {value => $value};
}

sub queries {
    my $table = "drv_${tag}_q";
    my $dbh = connect_db();
    $dbh->do("DROP TABLE IF EXISTS $table");
    $dbh->do("CREATE TABLE $table (id INT PRIMARY KEY, name VARCHAR(20))");
    my $affected = $dbh->do("INSERT INTO $table VALUES (1, 'one'), (2, 'two'), (3, 'three')");
    my $rows = $dbh->selectall_arrayref("SELECT id, name FROM $table ORDER BY id");
    $dbh->disconnect;
    return {affected => $affected + 0, rows => [map { [$_->[0] + 0, $_->[1]] } @$rows]};
}

sub prepared {
    my $dbh = connect_db(mariadb_server_prepare => 1);
    my $before = status($dbh, 'Com_stmt_prepare');
    my $sth = $dbh->prepare('SELECT ? + ?, ?');
    my @results;
    for my $row ([2, 3, 'abc'], [5, 6, 'xyz']) {
        $sth->execute(@$row);
        my ($sum, $text) = $sth->fetchrow_array;
        push @results, [$sum + 0, $text];
    }
    $sth->finish;
    my $prepares = status($dbh, 'Com_stmt_prepare') - $before;
    $dbh->disconnect;
    return {results => \@results, server_prepares => $prepares};
}

sub blob {
    my $table = "drv_${tag}_blob";
    open(my $random, '<:raw', '/dev/urandom') or die "/dev/urandom: $!";
    read($random, my $data, $kBlobBytes) == $kBlobBytes or die 'short read from /dev/urandom';
    close($random);
    my $dbh = connect_db(mariadb_server_prepare => 1);
    $dbh->do("DROP TABLE IF EXISTS $table");
    $dbh->do("CREATE TABLE $table (id INT PRIMARY KEY, b LONGBLOB)");
    my $sth = $dbh->prepare("INSERT INTO $table VALUES (1, ?)");
    $sth->bind_param(1, $data, DBI::SQL_BLOB);
    $sth->execute;
    my $back = one($dbh, "SELECT b FROM $table WHERE id = 1");
    $dbh->disconnect;
    return {sent_sha256 => sha256_hex($data), received_sha256 => sha256_hex($back),
            received_len => length($back)};
}

# No pool in DBD::MariaDB: the second use is a new connection (through camproxy, a pooled one).
sub reset_reuse {
    my $first = connect_db(port => $reset_port);
    my $first_id = one($first, 'SELECT CONNECTION_ID()');
    $first->do("SET \@drv_user_var = 'leaked'");
    $first->do('CREATE TEMPORARY TABLE drv_tmp (id INT)');
    $first->do("SET SESSION group_concat_max_len = $kSessionValue");
    my $set_seen = one($first, 'SELECT @@SESSION.group_concat_max_len');
    $first->disconnect;
    my $second = connect_db(port => $reset_port);
    my $temp_table = eval { one($second, 'SELECT COUNT(*) FROM drv_tmp'); 1 } ? JSON::PP::true : JSON::PP::false;
    my $result = {first_id => $first_id + 0, second_id => one($second, 'SELECT CONNECTION_ID()') + 0,
                  set_seen => $set_seen + 0, user_var => one($second, 'SELECT @drv_user_var'),
                  temp_table => $temp_table,
                  session_var => one($second, 'SELECT @@SESSION.group_concat_max_len') + 0,
                  global_default => one($second, 'SELECT @@GLOBAL.group_concat_max_len') + 0};
    $second->disconnect;
    return $result;
}

sub kill_case {
    my ($bystander, $victim, $killer) = (connect_db(), connect_db(), connect_db());
    my $victim_id = one($victim, 'SELECT CONNECTION_ID()');
    my $result = {kill_error => undef, victim_error => undef};
    eval { $killer->do("KILL $victim_id"); 1 } or $result->{kill_error} = $killer->err . ': ' . $killer->errstr;
    eval { one($victim, 'SELECT 1'); 1 } or $result->{victim_error} = $victim->err . ': ' . $victim->errstr;
    $result->{bystander} = one($bystander, "SELECT 'alive'");
    $result->{killer} = one($killer, "SELECT 'alive'");
    $_->disconnect for ($bystander, $killer);
    return $result;
}

my %results;
my @cases = ([login => \&login], [queries => \&queries], [prepared => \&prepared], [blob => \&blob],
             [reset => \&reset_reuse], [kill => \&kill_case]);
for my $case (@cases) {
    my ($name, $code) = @$case;
    my $result = eval { $code->() };
    $results{$name} = $result ? {ok => JSON::PP::true, %$result}
                              : {ok => JSON::PP::false, error => ($DBI::err // '') . ': ' . ($DBI::errstr // $@)};
}
print JSON::PP->new->canonical->encode(\%results), "\n";

// go-sql-driver/mysql (Debian's golang-github-go-sql-driver-mysql-dev) with server-side prepared
// statements (interpolateParams off, the default), for
// tests/integration/test_pool_mode_transaction_stmts.py: three connections in one process, each
// with its own statements, executed in turn. Prints one JSON object like interleave.php.
//
//	go run interleave.go HOST PORT USER PASSWORD DATABASE ROUNDS
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	_ "github.com/go-sql-driver/mysql"
)

type result struct {
	Rows  [][]string `json:"rows"`
	Ids   []int64    `json:"ids"`
	Again string     `json:"again"`
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	host, port, user, password, database := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	rounds, err := strconv.Atoi(os.Args[6])
	must(err)
	ctx := context.Background()
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s:%s)/%s", user, password, host, port, database))
	must(err)
	names := []string{"a", "b", "c"}
	conns := map[string]*sql.Conn{}
	sums := map[string]*sql.Stmt{}
	ids := map[string]*sql.Stmt{}
	for i, name := range names {
		conn, err := db.Conn(ctx) // one connection per client, held for the whole run
		must(err)
		conns[name] = conn
		sums[name], err = conn.PrepareContext(ctx, fmt.Sprintf("SELECT CAST(? AS SIGNED) + %d, ?", 100*(i+1)))
		must(err)
		ids[name], err = conn.PrepareContext(ctx, "SELECT CONNECTION_ID()")
		must(err)
	}
	out := map[string]*result{}
	for _, name := range names {
		out[name] = &result{}
	}
	for round := 0; round < rounds; round++ {
		for _, name := range names {
			var sum int64
			var who string
			must(sums[name].QueryRowContext(ctx, round, name).Scan(&sum, &who))
			out[name].Rows = append(out[name].Rows, []string{strconv.FormatInt(sum, 10), who})
			var id int64
			must(ids[name].QueryRowContext(ctx).Scan(&id))
			out[name].Ids = append(out[name].Ids, id)
		}
	}
	for _, name := range names {
		must(sums[name].Close())
		again, err := conns[name].PrepareContext(ctx, "SELECT CONCAT(?, '-again')")
		must(err)
		must(again.QueryRowContext(ctx, name).Scan(&out[name].Again))
	}
	data, err := json.Marshal(out)
	must(err)
	fmt.Println(string(data))
}

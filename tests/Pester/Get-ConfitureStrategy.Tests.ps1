BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'Get-ConfitureStrategy parameters' -Tag UnitTests {
    It 'has every parameter the design documents' {
        $documented = @('CopyRowsPerSecond', 'CopyThreshold', 'ExcludeTable', 'FdwRowsPerSecond', 'Migration', 'Schema', 'Table')
        $documented | Where-Object { $_ -notin (Get-CommandParameterName Get-ConfitureStrategy) } | Should -BeNullOrEmpty -Because 'these documented parameters are missing'
    }

    It 'takes the session from the pipeline' {
        (Get-Command Get-ConfitureStrategy).Parameters['Migration'].Attributes.Where({ $_ -is [Parameter] }).ValueFromPipeline | Should -Contain $true
    }

    It 'leaves -CopyThreshold and the rates unset, so that the sampled costs decide' {
        $cmdlet = [Confiture.PowerShell.Cmdlets.GetConfitureStrategyCommand]::new()
        $cmdlet.CopyThreshold | Should -BeNullOrEmpty
        $cmdlet.CopyRowsPerSecond | Should -BeNullOrEmpty
        $cmdlet.FdwRowsPerSecond | Should -BeNullOrEmpty
    }
}

Describe 'Get-ConfitureStrategy' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        # autovacuum_enabled = false: no background ANALYZE may turn an exact count into an estimate mid-test.
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @'
CREATE TABLE big (id integer PRIMARY KEY, payload text) WITH (autovacuum_enabled = false);
INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 2000) g;
CREATE TABLE small (id integer PRIMARY KEY) WITH (autovacuum_enabled = false);
INSERT INTO small SELECT generate_series(1, 10);
CREATE TABLE analyzed (id integer PRIMARY KEY) WITH (autovacuum_enabled = false);
INSERT INTO analyzed SELECT generate_series(1, 2000);
ANALYZE analyzed;
INSERT INTO analyzed SELECT generate_series(2001, 2500);
CREATE SCHEMA archive;
CREATE TABLE archive.old_orders (id integer PRIMARY KEY) WITH (autovacuum_enabled = false);
INSERT INTO archive.old_orders SELECT generate_series(1, 3);
CREATE VIEW big_view AS SELECT * FROM big;
'@ | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer
        $plans = @($migration | Get-ConfitureStrategy -CopyThreshold 1000)
        $byTable = @{}
        foreach ($plan in $plans) { $byTable[$plan.Table] = $plan }
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'emits one strategy per table of the session''s source schema, and no views' {
        $plans | ForEach-Object { $_ | Should -BeOfType ([Confiture.PowerShell.Types.ConfitureStrategy]) }
        $plans.Table | Sort-Object | Should -Be @('analyzed', 'big', 'small')
        $plans.Schema | Select-Object -Unique | Should -Be 'public'
    }

    It 'advises Copy for a table at or above -CopyThreshold' {
        $byTable['big'].Strategy | Should -Be 'Copy'
    }

    It 'advises Fdw for a table below -CopyThreshold' {
        $byTable['small'].Strategy | Should -Be 'Fdw'
    }

    It 'counts a table that was never analyzed exactly' {
        $byTable['big'].RowCount | Should -Be 2000
        $byTable['big'].IsExact | Should -BeTrue
        $byTable['small'].RowCount | Should -Be 10
        $byTable['small'].IsExact | Should -BeTrue
    }

    It 'takes an analyzed table''s size from the statistics, without counting it' {
        # 2,500 rows now, but the statistics were taken at 2,000.
        $byTable['analyzed'].RowCount | Should -Be 2000
        $byTable['analyzed'].IsExact | Should -BeFalse
    }

    It 'estimates the time from the rows per second of the strategy it advises' {
        $estimates = @(Get-ConfitureStrategy -Migration $migration -Table big, small -CopyThreshold 1000 -CopyRowsPerSecond 1000 -FdwRowsPerSecond 5)
        ($estimates | Where-Object Table -EQ 'big').EstimatedSeconds | Should -Be 2
        ($estimates | Where-Object Table -EQ 'small').EstimatedSeconds | Should -Be 2
    }

    It 'estimates tables the target does not have from the source alone, and says so' {
        $plans.Basis | Select-Object -Unique | Should -Be 'Threshold'
        foreach ($plan in $plans) { ($plan.Assumptions -join "`n") | Should -Match 'not sampled: .*does not exist in the target' }
        (Get-ConfitureStrategy -Migration $migration -Table big).Basis | Should -Be 'SourceOnly'
    }

    It 'limits the advice to -Table' {
        $only = @(Get-ConfitureStrategy -Migration $migration -Table small)

        $only.Count | Should -Be 1
        $only[0].Table | Should -Be 'small'
    }

    It 'sizes the tables of another source schema with -Schema' {
        $archive = @(Get-ConfitureStrategy -Migration $migration -Schema archive)

        $archive.Count | Should -Be 1
        $archive[0].Table | Should -Be 'old_orders'
        $archive[0].Schema | Should -Be 'archive'
        $archive[0].RowCount | Should -Be 3
    }

    It 'refuses a -Schema that does not exist on the source (Confiture.SchemaNotFound) instead of advising nothing' {
        { Get-ConfitureStrategy -Migration $migration -Schema no_such_schema -ErrorAction Stop } | Should -Throw -ErrorId 'Confiture.SchemaNotFound,*'
    }

    It 'carries the session, so that its output pipes into Invoke-ConfitureTableMigration' {
        $plans | ForEach-Object { $_.Migration | Should -Be $migration }
    }

    It 'uses the last session when -Migration is left out' {
        (Get-ConfitureStrategy -Table small).Migration | Should -Be $migration
    }

    It 'reports an unknown table as a non-terminating Confiture.TableNotFound' {
        $result = Get-ConfitureStrategy -Migration $migration -Table no_such_table -ErrorVariable failures -ErrorAction SilentlyContinue

        $result | Should -BeNullOrEmpty
        $failures | Should -HaveCount 1
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'Confiture.TableNotFound,*'
        $failures[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'stops on an unknown table with -ErrorAction Stop' {
        { Get-ConfitureStrategy -Migration $migration -Table no_such_table -ErrorAction Stop } | Should -Throw -ErrorId 'Confiture.TableNotFound,*'
    }
}

Describe 'Get-ConfitureStrategy sampling both paths' -Tag IntegrationTests {
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'Hostile.Helpers.psm1') -Force
        $pair = New-TestDatabasePair
        # wide: the benchmark's 20 columns (numeric, timestamptz, jsonb, arrays...), which postgres_fdw
        # must parse from text on the target; tiny: three rows; child: a foreign key to tiny and a
        # serial the samples must not draw from; extra: not in the session.
        Import-Module (Join-Path $PSScriptRoot '../../bench/BenchData.psm1') -Force
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @"
$(Get-BenchTableSql -Kind wide -Name wide -PrimaryKey)
$(Get-BenchLoadSql -Kind wide -Name wide -Rows 20000)
CREATE TABLE tiny (id integer PRIMARY KEY, name text);
INSERT INTO tiny VALUES (1, 'one'), (2, 'two'), (3, 'three');
CREATE TABLE child (id integer PRIMARY KEY, tiny_id integer REFERENCES tiny, note text);
INSERT INTO child SELECT g, 1 + g % 3, 'note ' || g FROM generate_series(1, 3000) g;
CREATE TABLE orders_a (id integer PRIMARY KEY);
CREATE TABLE orders_b (id integer PRIMARY KEY);
CREATE TABLE extra (id integer PRIMARY KEY);
ANALYZE;
"@ | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -Sql @"
$(Get-BenchTableSql -Kind wide -Name wide -PrimaryKey)
CREATE TABLE tiny (id integer PRIMARY KEY, name text);
CREATE TABLE child (id integer PRIMARY KEY, tiny_id integer REFERENCES tiny, note text, seq serial);
CREATE TABLE orders_a (id integer PRIMARY KEY);
CREATE TABLE orders_b (id integer PRIMARY KEY);
GRANT ALL ON ALL TABLES IN SCHEMA public TO $($pair.MigratorUser);
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO $($pair.MigratorUser);
"@ | Out-Null
        Invoke-TestSql -Side Source -Database $pair.Database -Sql "GRANT SELECT ON ALL TABLES IN SCHEMA public TO $($pair.MigratorUser)" | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer -Table wide, tiny, child, orders_a, orders_b
        # The session keeps the map: child's seq takes its default, from a serial of the target.
        $null = Invoke-ConfitureTableMigration -Migration $migration -SourceTable child -Map @{ child = @{ Default = @('seq') } } -WhatIf
        $before = Get-DatabaseFingerprint -Pair $pair
        $plans = @($migration | Get-ConfitureStrategy)
        $after = Get-DatabaseFingerprint -Pair $pair
        $byTable = @{}
        foreach ($plan in $plans) { $byTable[$plan.Table] = $plan }
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'plans the session''s tables by default, not every table of the schema' {
        $plans.Table | Sort-Object | Should -Be @('child', 'orders_a', 'orders_b', 'tiny', 'wide')
    }

    It 'estimates both paths from timed samples, positive, and says so' {
        foreach ($plan in $plans) {
            $plan.Basis | Should -Be 'Sampled' -Because "$($plan.Table) has a target table and a foreign table"
            $plan.CopySeconds | Should -BeGreaterThan 0
            $plan.FdwSeconds | Should -BeGreaterThan 0
            $plan.EstimatedSeconds | Should -BeGreaterThan 0
            ($plan.Assumptions -join "`n") | Should -Match 'sampled .* rows into a rolled-back copy of "public"\.'
        }
    }

    It 'advises the faster of its two estimates, and says when they were too close to tell apart' {
        foreach ($plan in $plans) {
            $close = [math]::Abs($plan.CopySeconds - $plan.FdwSeconds) -le 0.2 * [math]::Max($plan.CopySeconds, $plan.FdwSeconds)
            if ($close) {
                ($plan.Assumptions -join "`n") | Should -Match 'within 20 % of each other: decided by the reference rates'
            }
            else {
                $plan.Strategy | Should -Be $(if ($plan.CopySeconds -lt $plan.FdwSeconds) { 'Copy' } else { 'Fdw' }) -Because "$($plan.Table): Copy $($plan.CopySeconds) s, Fdw $($plan.FdwSeconds) s"
            }
            $plan.EstimatedSeconds | Should -Be $(if ($plan.Strategy -eq 'Copy') { $plan.CopySeconds } else { $plan.FdwSeconds })
        }
    }

    It 'advises Copy for a wide table, whose text parsing makes Fdw slower' {
        $wide = $byTable['wide']
        $wide.Strategy | Should -Be 'Copy'
        # Timed samples on a busy machine may come out close; then the reference rates decide, and say so.
        $close = [math]::Abs($wide.CopySeconds - $wide.FdwSeconds) -le 0.2 * [math]::Max($wide.CopySeconds, $wide.FdwSeconds)
        if (-not $close) { $wide.FdwSeconds | Should -BeGreaterThan $wide.CopySeconds }
    }

    It 'advises Fdw for a tiny table, where its one statement starts faster than a COPY stream' {
        $byTable['tiny'].Strategy | Should -Be 'Fdw'
    }

    It 'states the size, the indexes and the foreign keys it sampled with' {
        $byTable['wide'].SizeBytes | Should -BeGreaterThan 1MB
        $byTable['wide'].RowWidth | Should -BeGreaterThan 200
        ($byTable['wide'].Assumptions -join "`n") | Should -Match 'pg_table_size'
        ($byTable['wide'].Assumptions -join "`n") | Should -Match 'with its 1 index'
        ($byTable['child'].Assumptions -join "`n") | Should -Match '1 foreign key'
    }

    It 'writes nothing on either server, and draws from no sequence of the target' {
        Assert-DatabaseUnchanged -Pair $pair -Before $before -Because 'the samples go into temporary tables of a rolled-back transaction'
        $after.Target | Should -Contain ($after.Target | Where-Object { $_ -like 'sequence "public"."child_seq_seq"*' })
        ($after.Target | Where-Object { $_ -like 'sequence *child_seq_seq*' }) | Should -Be ($before.Target | Where-Object { $_ -like 'sequence *child_seq_seq*' })
    }

    It 'still decides by rows when -CopyThreshold is given' {
        $byRows = @(Get-ConfitureStrategy -Migration $migration -Table wide, tiny -CopyThreshold 100000)
        ($byRows | Where-Object Table -EQ 'wide').Strategy | Should -Be 'Fdw'
        ($byRows | Where-Object Table -EQ 'tiny').Strategy | Should -Be 'Fdw'
        $byRows.Basis | Select-Object -Unique | Should -Be 'Threshold'
        $low = @(Get-ConfitureStrategy -Migration $migration -Table tiny -CopyThreshold 3)
        $low[0].Strategy | Should -Be 'Copy'
    }

    It 'estimates a table the target does not have yet from the source alone, and says so' {
        Invoke-TestSql -Side Source -Database $pair.Database -Sql "CREATE TABLE fresh (id integer PRIMARY KEY); INSERT INTO fresh SELECT generate_series(1, 50); GRANT SELECT ON fresh TO $($pair.MigratorUser)" | Out-Null
        $fresh = Get-ConfitureStrategy -Migration $migration -Table fresh
        $fresh.Basis | Should -Be 'SourceOnly'
        $fresh.Strategy | Should -Be 'Copy' -Because 'fresh has no foreign table in the session'
        $fresh.EstimatedSeconds | Should -BeGreaterThan 0
        ($fresh.Assumptions -join "`n") | Should -Match 'does not exist in the target'
    }

    It 'matches wildcards against the session''s tables' {
        (Get-ConfitureStrategy -Migration $migration -Table 'orders*').Table | Should -Be @('orders_a', 'orders_b')
    }

    It 'leaves out -ExcludeTable, wildcards too' {
        (Get-ConfitureStrategy -Migration $migration -ExcludeTable 'orders*', wide).Table | Sort-Object | Should -Be @('child', 'tiny')
        (Get-ConfitureStrategy -Migration $migration -Table 'orders*' -ExcludeTable orders_b).Table | Should -Be @('orders_a')
    }

    It 'warns about an -ExcludeTable that leaves out nothing' {
        $null = Get-ConfitureStrategy -Migration $migration -Table tiny -ExcludeTable nothing_like_it -WarningVariable warned -WarningAction SilentlyContinue
        "$warned" | Should -Match '-ExcludeTable "nothing_like_it" matches none'
    }

    It 'suggests the near name of a mistyped table (Confiture.TableNotFound)' {
        $result = Get-ConfitureStrategy -Migration $migration -Table wdie -ErrorVariable failures -ErrorAction SilentlyContinue
        $result | Should -BeNullOrEmpty
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'Confiture.TableNotFound,*'
        $failures[0].Exception.Message | Should -Match 'did you mean "wide"\?'
    }

    It 'suggests the near name of a wildcard that matches nothing, and plans the names that match' {
        $result = @(Get-ConfitureStrategy -Migration $migration -Table 'oders_*', tiny -ErrorVariable failures -ErrorAction SilentlyContinue)
        $result.Table | Should -Be @('tiny')
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'Confiture.TableNotFound,*'
        $failures[0].Exception.Message | Should -Match 'No table of the session matches "oders_\*" \(did you mean "orders_a"\?\)'
    }
}

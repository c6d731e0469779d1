<#
    ShouldProcess on the three cmdlets that change a database: -WhatIf prints the statements they
    would run and changes nothing; the impacts are declared; -Verbose shows each statement with its
    duration and never a password.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Native.Helpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    $pair = New-NativeFixture
    $fdw = $pair.FdwParameters
    $secret = [regex]::Escape($pair.MigratorPassword)
}

AfterAll {
    if ($pair) { Remove-TestDatabasePair $pair }
}

Describe 'The cmdlets that change a database' {
    It '<Name> supports -WhatIf and -Confirm with ConfirmImpact Medium' -TestCases @(
        @{ Name = 'Enable-ConfitureFdw' }, @{ Name = 'Invoke-ConfitureTableMigration' }, @{ Name = 'Remove-ConfitureFdw' }
    ) {
        $command = Get-Command $Name
        $command.Parameters.Keys | Should -Contain 'WhatIf'
        $command.Parameters.Keys | Should -Contain 'Confirm'
        $binding = $command.ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]
        $binding.SupportsShouldProcess | Should -BeTrue
        $binding.ConfirmImpact | Should -Be 'Medium'
    }

    It 'the others change nothing, so they have no -WhatIf' {
        foreach ($name in 'Connect-ConfitureDatabase', 'Get-ConfitureStrategy', 'Test-ConfitureMigration') {
            (Get-Command $name).Parameters.Keys | Should -Not -Contain 'WhatIf'
        }
    }
}

Describe 'Enable-ConfitureFdw -WhatIf' {
    It 'prints the setup statements, with the password masked, and creates nothing' {
        $before = Get-TargetState $pair
        $text = Get-HostOutput { Enable-ConfitureFdw -Source $pair.Source -Target $pair.Target @fdw -WhatIf }
        $text | Should -Match 'What if:'
        $text | Should -Match 'CREATE SERVER "confiture_source_server" FOREIGN DATA WRAPPER postgres_fdw'
        $text | Should -Match 'CREATE USER MAPPING'
        $text | Should -Match 'IMPORT FOREIGN SCHEMA'
        $text | Should -Match '\*{8}'
        $text | Should -Not -Match $secret
        Get-TargetState $pair | Should -Be $before
    }
}

Describe 'Invoke-ConfitureTableMigration and Remove-ConfitureFdw -WhatIf' {
    BeforeAll {
        $migration = Enable-ConfitureFdw -Source $pair.Source -Target $pair.Target @fdw -Confirm:$false
    }

    AfterAll {
        if ($migration) { $migration | Remove-ConfitureFdw -Confirm:$false -ErrorAction Continue }
    }

    It 'Invoke prints the INSERT it would run and writes no row' {
        $before = Get-TargetState $pair
        $text = Get-HostOutput { Invoke-ConfitureTableMigration -Migration $migration -SourceTable users -Strategy Fdw -WhatIf }
        $text | Should -Match 'INSERT INTO "public"."users"'
        Get-TargetState $pair | Should -Be $before
    }

    It 'Invoke prints the COPY statements of the Copy strategy and writes no row' {
        $before = Get-TargetState $pair
        $text = Get-HostOutput { Invoke-ConfitureTableMigration -Migration $migration -SourceTable 'Order Lines' -Strategy Copy -WhatIf }
        $text | Should -Match 'COPY'
        $text | Should -Match '"Order Lines"'
        Get-TargetState $pair | Should -Be $before
    }

    It 'Invoke -Truncate -WhatIf neither asks nor deletes' {
        Invoke-TestSql -Side Target -Database $pair.Database -Sql "INSERT INTO orders VALUES (1000, 'keep me')" | Out-Null
        try {
            $before = Get-TargetState $pair
            # The suite runs -NonInteractive: a confirmation prompt would fail the call.
            $text = Get-HostOutput { Invoke-ConfitureTableMigration -Migration $migration -SourceTable orders -Truncate -WhatIf }
            $text | Should -Match 'What if:'
            $text | Should -Match 'TRUNCATE'
            Get-TargetState $pair | Should -Be $before
            Invoke-TestSql -Side Target -Database $pair.Database -Sql 'SELECT note FROM orders' | Should -Be 'keep me'
        }
        finally {
            Invoke-TestSql -Side Target -Database $pair.Database -Sql 'DELETE FROM orders' | Out-Null
        }
    }

    It 'Get-ConfitureStrategy | Invoke-ConfitureTableMigration -WhatIf shows the plan of the whole schema and writes nothing' {
        $before = Get-TargetState $pair
        $text = Get-HostOutput { $migration | Get-ConfitureStrategy | Invoke-ConfitureTableMigration -WhatIf }
        foreach ($table in 'users', 'Order Lines', "it's", 'orders') {
            $text | Should -Match ('What if: .*' + [regex]::Escape("public.$table"))
            $text | Should -Match ('INSERT INTO "public"\."' + [regex]::Escape($table.Replace('"', '""')) + '"|COPY "public"\."' + [regex]::Escape($table) + '"')
        }
        Get-TargetState $pair | Should -Be $before
    }

    It 'uses the runspace''s session when -Migration is left out' {
        $before = Get-TargetState $pair
        $text = Get-HostOutput { Get-ConfitureStrategy -Table users | Invoke-ConfitureTableMigration -WhatIf }
        $text | Should -Match 'INSERT INTO "public"."users"'
        Get-TargetState $pair | Should -Be $before
    }

    It 'Remove prints the DROP statements and drops nothing' {
        $before = Get-TargetState $pair
        $text = Get-HostOutput { $migration | Remove-ConfitureFdw -WhatIf }
        $text | Should -Match 'DROP FOREIGN TABLE "old_schema"."Order Lines"'
        $text | Should -Match 'DROP USER MAPPING'
        $text | Should -Match 'DROP SERVER "confiture_source_server"'
        Get-TargetState $pair | Should -Be $before
        (Invoke-TestSql -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM pg_foreign_server') | Should -Be '1'
    }

    It '-Confirm:$false runs, and -Verbose shows each statement with its duration' {
        $verbose = Invoke-ConfitureTableMigration -Migration $migration -SourceTable users -Confirm:$false -Verbose 4>&1 |
            Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
        $verbose -join "`n" | Should -Match '\[\d+ ms\] INSERT INTO "public"."users"'
        Invoke-TestSql -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM users' | Should -Be '25'
    }

    It 'the reading cmdlets say with -Verbose what they read and how long it took' {
        $verbose = & {
            Get-ConfitureStrategy -Migration $migration -Table users -Verbose
            Test-ConfitureMigration -Migration $migration -Table users -Checksum -Verbose
        } 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
        $text = $verbose -join "`n"
        $text | Should -Match '\[\d+ ms\] Sized 1 table\(s\) of schema "public"'
        $text | Should -Match '\[\d+ ms\] Compared "public"."users" .*\(25 rows\) with "public"."users" .*\(25 rows\), with checksums: match'
        $text | Should -Not -Match $secret
    }
}

Describe '-Verbose never shows a password' {
    It 'Enable-ConfitureFdw and Remove-ConfitureFdw show their statements, the user mapping masked' {
        $verbose = & {
            $m = Enable-ConfitureFdw -Source $pair.Source -Target $pair.Target @fdw -ServerName verbose_server -ForeignSchema verbose_schema -Confirm:$false -Verbose
            $m | Remove-ConfitureFdw -Confirm:$false -Verbose
        } 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
        $text = $verbose -join "`n"
        $text | Should -Match '\[\d+ ms\] CREATE SERVER "verbose_server"'
        $text | Should -Match '\[\d+ ms\] CREATE USER MAPPING .*\*{8}'
        $text | Should -Match '\[\d+ ms\] DROP SERVER "verbose_server"'
        $text | Should -Not -Match $secret
    }
}
